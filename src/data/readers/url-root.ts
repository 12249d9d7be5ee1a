/**
 * Image locations given as URLs (CellProfiler LoadData's `URL_<Ch>` columns, the Cell Painting
 * Gallery's `s3://cellpainting-gallery/...`): `file://` URLs are local paths; a remote URL is read
 * from the user's local mirror, found by replacing its prefix with a folder (`--url-root
 * s3://cellpainting-gallery=/data/gallery`), as `aws s3 sync` keeps the bucket's paths.
 */
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

/** Remote URL prefix -> local folder (recipe `data.urlRoot`, `--url-root PREFIX=DIR`). */
export type UrlRoot = Record<string, string>;

const SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;

/** Whether `s` is a URL (`scheme://...`). */
export function isUrl(s: string): boolean {
  return SCHEME.test(s);
}

/** `scheme://host` of a URL: the prefix a user maps first (e.g. `s3://cellpainting-gallery`). */
export function urlHost(url: string): string {
  const m = /^([a-z][a-z0-9+.-]*:\/\/[^/]*)/i.exec(url);
  return m ? m[1] : url;
}

/**
 * The local path of `url`: `file://` URLs directly, other URLs through the longest `roots` prefix
 * that matches it at a path boundary (percent-escapes of http(s) paths decoded). `undefined` when
 * no prefix maps it.
 */
export function localPathOfUrl(url: string, roots: UrlRoot = {}): string | undefined {
  if (/^file:\/\//i.test(url)) return fileURLToPath(url);
  let best: string | undefined;
  for (const prefix of Object.keys(roots)) {
    const p = prefix.replace(/\/+$/, '');
    if (url === p || url.startsWith(`${p}/`)) if (best === undefined || p.length > best.length) best = p;
  }
  if (best === undefined) return undefined;
  const rest = url.slice(best.length).replace(/^\/+/, '');
  const decoded = /^https?:/i.test(url) ? rest.split('/').map((s) => decodeURIComponent(s)).join('/') : rest;
  const root = Object.entries(roots).find(([k]) => k.replace(/\/+$/, '') === best)![1];
  return join(root, decoded);
}

/** The fix for an unmapped URL, for error messages. */
export function urlRootHint(url: string): string {
  return `map its prefix to your local copy with --url-root ${urlHost(url)}=DIR (recipe: data.urlRoot: {'${urlHost(url)}': DIR})`;
}
