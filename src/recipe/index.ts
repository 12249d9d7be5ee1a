/** Recipes: loading and validating one, and running its stages. */
export { loadRecipe, validateRecipe } from './load.ts';
export type { Recipe } from './schema.ts';
export { pretrain } from './train-stage.ts';
export { runRecipe } from './run.ts';
