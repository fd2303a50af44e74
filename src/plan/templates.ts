// Renders service config templates (templates/<service>/*.j2) with nunjucks: Jinja2 syntax,
// autoescape off, undefined values are errors rather than empty strings.
import { createHash } from 'node:crypto';
import nunjucks from 'nunjucks';
import { fileURLToPath } from 'node:url';
import { InputError } from '../config/errors.js';

nunjucks.installJinjaCompat();

export const templatesDir = fileURLToPath(new URL('../../templates', import.meta.url));

const env = new nunjucks.Environment(new nunjucks.FileSystemLoader(templatesDir), {
  autoescape: false,
  throwOnUndefined: true,
  trimBlocks: true,
  lstripBlocks: true,
});
env.addFilter('tojson', (v: unknown) => JSON.stringify(v));
env.addFilter('bool', (v: unknown) => (v ? 'True' : 'False'));
// A value inside double quotes in a MySQL option file (client.cnf, wsrep_sst_auth).
env.addFilter('cnf_string', (v: unknown) => String(v).replace(/\\/g, '\\\\').replace(/"/g, '\\"'));
// One word of haproxy.cfg, quoted as a shell would (haproxy's parser reads quotes the same way).
env.addFilter('haproxy_word', (v: unknown) => `'${String(v).replace(/'/g, "'\\''")}'`);
// VRRP's PASS authentication takes 8 characters of no particular kind: derived from the secret, so
// any value of it works and the file never holds the secret itself.
env.addFilter('vrrp_pass', (v: unknown) => createHash('sha256').update(String(v)).digest('hex').slice(0, 8));
// A value inside a single-quoted SQL string literal.
env.addFilter('sql_string', (v: unknown) => String(v).replace(/\\/g, '\\\\').replace(/'/g, "\\'"));

/** Renders a short template string from the catalog (a command, a healthcheck, an env value). */
export function renderInline(text: string, context: object): string {
  if (!text.includes('{')) return text;
  try {
    return env.renderString(text, context);
  } catch (err) {
    throw new InputError(`rendering "${text}": ${(err as Error).message.split('\n').join(' ')}`);
  }
}

export function renderTemplate(name: string, context: object): string {
  try {
    return env.render(name, context);
  } catch (err) {
    // Templates are ours; a failure here is a catalog bug or a value the schema let through.
    throw new InputError(`rendering ${name}: ${(err as Error).message.split('\n').join(' ')}`);
  }
}
