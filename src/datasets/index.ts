/**
 * Published data sets whose files need more than a table reader (their own layout, joins of
 * several files). Nothing in the core imports this folder: the CLI and the library API register
 * these sources by importing it.
 */
import { tableSources } from '../tables/load.ts';
import { isBbbc021GalleryDir, loadBbbc021Gallery } from './bbbc021.ts';

tableSources.register('bbbc021-gallery', { description: 'BBBC021 per-well means, joined', detect: isBbbc021GalleryDir, load: loadBbbc021Gallery });

export { loadBbbc021Gallery, isBbbc021GalleryDir, BBBC021_FILES } from './bbbc021.ts';
