/** Well aggregation of embeddings: the one implementation lives in profiles/ (re-exported for embedding/ callers). */
export { aggregateProfiles, WELL_KEYS, COUNT_COLUMN, AGGREGATE_METHODS, type AggregateMethod, type AggregateOptions } from '../profiles/aggregate.ts';
