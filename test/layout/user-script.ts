/**
 * A user's script: imports ben-ssl by its package name, as `npm install ben-ssl` would let it, and
 * runs a little of everything the public API promises. test/layout/public-api.test.ts runs it in a
 * child process; it prints one JSON line.
 */
import { evaluateProfiles, metrics, objectives, backbones, NORMALIZATION_MODES, type ProfileTable } from 'ben-ssl';
import { computeAveragePrecisionTable } from 'ben-ssl/evaluation';
import { aggregateProfiles } from 'ben-ssl/profiles';
import { metaColumn } from 'ben-ssl/tables';
import { samplers } from 'ben-ssl/data';

const t: ProfileTable = {
  n: 6,
  d: 2,
  featureNames: ['f0', 'f1'],
  features: Float32Array.from([1, 0, 0.9, 0.1, 0, 1, 0.1, 0.9, 1, 1, 0.8, 0.9]),
  meta: { Metadata_Plate: ['p1', 'p2', 'p1', 'p2', 'p1', 'p2'], Metadata_Treatment: ['a', 'a', 'b', 'b', 'c', 'c'] },
};
const r = await evaluateProfiles(t, { columns: { plate: 'Plate', replicate: ['Treatment'] }, metrics: ['map'], options: { map: { nullSize: 100 } } });
const ap = computeAveragePrecisionTable(t, { pos: { sameby: ['Metadata_Treatment'], diffby: ['Metadata_Plate'] }, neg: { sameby: [], diffby: ['Metadata_Treatment'] }, nullSize: 100, seed: 0 });
const wells = aggregateProfiles(t, { by: ['Metadata_Treatment'], method: 'mean' });
console.log(
  JSON.stringify({
    map: r.metrics.map.summary.map,
    aps: ap.rows.map((x) => x.ap),
    wells: wells.n,
    treatments: metaColumn(wells, 'Treatment'),
    hasMetrics: metrics.has('knn') && metrics.has('map'),
    objectives: objectives.names(),
    backbones: backbones.has('resnet18'),
    modes: NORMALIZATION_MODES,
    samplers: samplers.names(),
  }),
);
