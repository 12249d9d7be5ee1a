/**
 * Registers every objective; importing this module fills the `objectives` registry. Adding an
 * objective is one file plus one line here.
 */
import { createByol } from './byol.ts';
import { objectives } from './objective.ts';
import { createSimclr } from './simclr.ts';
import { createSupervised } from './supervised.ts';
import { createVicreg } from './vicreg.ts';

objectives.register('supervised', createSupervised);
objectives.register('simclr', createSimclr);
objectives.register('byol', createByol);
objectives.register('vicreg', createVicreg);

export { objectives };
export type { Objective, ObjectiveContext, ObjectiveBatch } from './objective.ts';
