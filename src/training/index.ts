/** Training: the one way into training a backbone, supervised training, optimizers, and the run directory's layout. */
export { trainBackbone, type TrainBackboneOptions, type TrainedBackbone } from './train-backbone.ts';
export { trainSupervised, type TrainSupervisedOptions } from './supervised.ts';
export { optimizers } from './optimizers.ts';
export { RUN_LAYOUT } from './run-layout.ts';
