// haproxy's runtime API as berth drives it (src/reconcile/load-balancer.ts): `docker exec` into a
// loadbalancer host's haproxy container of `sh -c "echo 'CMD1; CMD2' | socat -t 5 stdio
// unix-connect:…/haproxy.sock"`. For real, socat hands the line to haproxy's admin socket; haproxy
// runs each `;`-separated command against the proxies it loaded from its config and answers each
// with its output and an empty line; socat prints that and exits 0 whatever haproxy said.
//
// Here no haproxy runs: the proxies and servers are read from the config berth wrote into the
// container's config mount (kolla_set_configs would copy it to /etc/haproxy at start; the copy is
// not simulated), at each command, so a changed file reads as a reloaded haproxy. Every server is up
// and its health check passed (no session is ever open: nothing sends traffic); what haproxy keeps
// in memory, each server's admin state (`set server B/S state ready|drain|maint`), is kept per
// container and dropped when the container starts again, as a new haproxy process starts fresh.
// Commands: `show stat`, `show servers state [BACKEND]`, `set server B/S state ready|drain|maint`;
// any other gets haproxy's "Unknown command" answer.
import type { ExecContext, ExecResult } from './exec.js';
import type { ContainerFs } from './memfs.js';

/** The script's text: the command line in single quotes, any socket path ending in haproxy.sock. */
export const HAPROXY_CLI = /^echo '([^']*)' \| socat(?: -t [\d.]+)? stdio unix-connect:(\S*haproxy\.sock)$/;

/** Where berth's config directory for the container is mounted (src/plan/plan.ts CONFIG_MOUNT). */
const CONFIG = '/var/lib/kolla/config_files/haproxy.cfg';

interface Server {
  name: string;
  addr: string;
  port: number;
  check: boolean;
  checkPort: number;
  backup: boolean;
  weight: number;
  rise: number;
  fall: number;
}

interface Proxy {
  kind: 'frontend' | 'backend' | 'listen';
  name: string;
  /** haproxy's proxy id: in the order of the file, from 1 (none is forced with `id` in berth's). */
  id: number;
  mode: string;
  algo: string;
  /** `option httpchk` (or another protocol check): checks pass as L7OK; a plain connect as L4OK. */
  l7check: boolean;
  servers: Server[];
}

interface Config {
  socket?: string;
  proxies: Proxy[];
}

const SECTIONS = new Set(['global', 'defaults', 'frontend', 'backend', 'listen', 'resolvers', 'peers', 'userlist', 'program', 'http-errors', 'ring', 'mailers', 'cache', 'log-forward']);
const L7_CHECKS = new Set(['httpchk', 'mysql-check', 'pgsql-check', 'redis-check', 'smtpchk', 'ldap-check', 'spop-check']);

/** The parts of haproxy.cfg the runtime API answers about; `defaults` carry over to the proxies after them. */
export function parseHaproxyConfig(text: string): Config {
  const config: Config = { proxies: [] };
  const defaults = { mode: 'tcp', algo: 'roundrobin', l7check: false, rise: 2, fall: 3, weight: 1 };
  let section = '';
  let proxy: Proxy | undefined;
  for (const raw of text.split('\n')) {
    const words = raw.replace(/(^|\s)#.*$/, '').trim().split(/\s+/).filter(Boolean);
    const [keyword, ...args] = words;
    if (keyword === undefined) continue;
    if (SECTIONS.has(keyword)) {
      section = keyword;
      proxy = undefined;
      if (keyword === 'frontend' || keyword === 'backend' || keyword === 'listen') {
        proxy = { kind: keyword, name: args[0] ?? '', id: config.proxies.length + 1, mode: defaults.mode, algo: defaults.algo, l7check: defaults.l7check, servers: [] };
        config.proxies.push(proxy);
      }
      continue;
    }
    if (section === 'global' && keyword === 'stats' && args[0] === 'socket') config.socket = args[1];
    const target = section === 'defaults' ? defaults : proxy;
    if (!target) continue;
    if (keyword === 'mode' && args[0]) target.mode = args[0];
    else if (keyword === 'balance' && args[0]) target.algo = args[0];
    else if (keyword === 'option' && args[0] && L7_CHECKS.has(args[0])) target.l7check = true;
    else if (keyword === 'default-server' && section === 'defaults') Object.assign(defaults, serverParams(args, defaults));
    else if (keyword === 'server' && proxy && args[0] && args[1]) {
      const at = args[1].lastIndexOf(':');
      const params = serverParams(args.slice(2), defaults);
      proxy.servers.push({
        name: args[0],
        addr: at < 0 ? args[1] : args[1].slice(0, at),
        port: at < 0 ? 0 : Number(args[1].slice(at + 1)),
        check: args.includes('check'),
        checkPort: Number(valueOf(args, 'port') ?? 0),
        backup: args.includes('backup'),
        ...params,
      });
    }
  }
  return config;
}

function valueOf(args: readonly string[], key: string): string | undefined {
  const i = args.indexOf(key);
  return i < 0 ? undefined : args[i + 1];
}

function serverParams(args: readonly string[], base: { rise: number; fall: number; weight: number }): { rise: number; fall: number; weight: number } {
  return { rise: Number(valueOf(args, 'rise') ?? base.rise), fall: Number(valueOf(args, 'fall') ?? base.fall), weight: Number(valueOf(args, 'weight') ?? base.weight) };
}

// haproxy's server admin flags (SRV_ADMF_*): what `show servers state` prints as srv_admin_state.
const FMAINT = 0x1;
const FDRAIN = 0x8;

interface Runtime {
  pid: number | undefined;
  started: number;
  /** "backend/server" → admin flags and when they last changed (ms); absent: ready since the start. */
  servers: Map<string, { admin: number; since: number }>;
}

// By the container's filesystem: one per container, gone with it.
const runtimes = new WeakMap<ContainerFs, Runtime>();

function runtimeOf(ctx: ExecContext): Runtime {
  let r = runtimes.get(ctx.fs);
  if (!r || r.pid !== ctx.process?.pid) runtimes.set(ctx.fs, (r = { pid: ctx.process?.pid, started: ctx.process?.started ?? Date.now(), servers: new Map() }));
  return r;
}

export function haproxyCli(ctx: ExecContext): ExecResult {
  const [, line = '', socket = ''] = HAPROXY_CLI.exec(ctx.argv[2] ?? '') ?? [];
  const file = ctx.fs.stat(CONFIG);
  const config = file?.type === 'file' ? parseHaproxyConfig(file.content.toString('utf8')) : undefined;
  // No haproxy in this container (no config), or it listens on another socket: nothing at the path.
  if (!config || (config.socket !== undefined && config.socket !== socket)) {
    return { code: 1, stderr: `${new Date().toISOString().replace('T', ' ').replace(/\.\d+Z$/, '')} socat[${process.pid}] E connect(5, AF=1 "${socket}", ${socket.length + 3}): No such file or directory\n` };
  }
  const runtime = runtimeOf(ctx);
  const out = line
    .split(';')
    .map((c) => c.trim())
    .filter(Boolean)
    .map((c) => `${answer(c.split(/\s+/), config, runtime)}\n`);
  return { code: 0, stdout: out.join('') };
}

function answer(words: readonly string[], config: Config, runtime: Runtime): string {
  const command = words.join(' ');
  if (command === 'show stat') return showStat(config, runtime);
  if (command.startsWith('show servers state')) return showServersState(config, runtime, words[3]);
  if (words[0] === 'set' && words[1] === 'server' && words[3] === 'state') return setState(words[2] ?? '', words[4] ?? '', config, runtime);
  return `Unknown command: '${command}'\n\nThe following commands are valid at this level (those simulated):\n  set server <bk>/<srv> state <st>: change a server's administrative state\n  show servers state [<bk>]: dump volatile server information (all or for a single backend)\n  show stat: report counters for each proxy and server\n`;
}

function setState(target: string, state: string, config: Config, runtime: Runtime): string {
  const [backend, server] = target.split('/');
  if (!backend || !server) return "Require 'backend/server'.\n";
  const proxy = config.proxies.find((p) => p.name === backend && p.kind !== 'frontend');
  if (!proxy) return 'No such backend.\n';
  if (!proxy.servers.some((s) => s.name === server)) return 'No such server.\n';
  // As haproxy's srv_adm_set_ready/drain/maint: drain and maint exclude each other.
  const admin = { ready: 0, drain: FDRAIN, maint: FMAINT }[state];
  if (admin === undefined) return "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n";
  const key = `${backend}/${server}`;
  if ((runtime.servers.get(key)?.admin ?? 0) !== admin) runtime.servers.set(key, { admin, since: Date.now() });
  return '';
}

interface ServerView {
  admin: number;
  /** Seconds since its state last changed. */
  lastchg: number;
  /** haproxy's srv_op_state: 2 running, 0 stopped (in maintenance). */
  op: number;
  status: string;
  /** The effective weight: 0 drained or in maintenance. */
  weight: number;
  /** The last check's result while checks run (they pause in maintenance). */
  check: '' | 'L4OK' | 'L7OK';
}

function view(proxy: Proxy, s: Server, runtime: Runtime): ServerView {
  const state = runtime.servers.get(`${proxy.name}/${s.name}`);
  const admin = state?.admin ?? 0;
  const lastchg = Math.max(0, Math.floor((Date.now() - (state?.since ?? runtime.started)) / 1000));
  const maint = (admin & FMAINT) !== 0;
  const drain = (admin & FDRAIN) !== 0;
  const check = s.check && !maint ? (proxy.l7check ? 'L7OK' : 'L4OK') : '';
  return { admin, lastchg, op: maint ? 0 : 2, status: maint ? 'MAINT' : drain ? 'DRAIN' : s.check ? 'UP' : 'no check', weight: maint || drain ? 0 : s.weight, check };
}

// haproxy 2.4's `show stat` columns, in its order (later versions append more).
const STAT_COLUMNS = (
  'pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,' +
  'check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,' +
  'agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,cookie,mode,algo,conn_rate,conn_rate_max,conn_tot,intercepted,dcon,dses,wrew,connect,reuse,cache_lookups,cache_hits,' +
  'srv_icur,src_ilim,qtime_max,ctime_max,rtime_max,ttime_max,eint,idle_conn_cur,safe_conn_cur,used_conn_cur,need_conn_est'
).split(',');

type Row = Partial<Record<string, string | number>>;

// Counters that are zero: nothing ever went through.
const ZERO: Row = { scur: 0, smax: 0, stot: 0, bin: 0, bout: 0, rate: 0, rate_max: 0 };

function showStat(config: Config, runtime: Runtime): string {
  const rows: Row[] = [];
  for (const p of config.proxies) {
    const common: Row = { ...ZERO, pxname: p.name, pid: 1, iid: p.id, mode: p.mode };
    if (p.kind !== 'backend') rows.push({ ...common, svname: 'FRONTEND', status: 'OPEN', dreq: 0, dresp: 0, ereq: 0, sid: 0, type: 0 });
    if (p.kind === 'frontend') continue;
    const servers = p.servers.map((s, i) => ({ s, v: view(p, s, runtime), sid: i + 1 }));
    for (const { s, v, sid } of servers) {
      rows.push({
        ...common, svname: s.name, qcur: 0, qmax: 0, status: v.status, weight: v.weight, act: s.backup ? 0 : 1, bck: s.backup ? 1 : 0, chkfail: 0, chkdown: 0, lastchg: v.lastchg, downtime: 0,
        sid, lbtot: 0, type: 2, check_status: v.check, check_code: v.check === 'L7OK' ? 200 : '', check_duration: v.check ? 0 : '',
        check_desc: v.check === 'L7OK' ? 'Layer7 check passed' : v.check === 'L4OK' ? 'Layer4 check passed' : '',
        check_rise: s.check ? s.rise : '', check_fall: s.check ? s.fall : '', check_health: s.check ? (v.check ? s.rise + s.fall - 1 : 0) : '', addr: `${s.addr}:${s.port}`,
      });
    }
    // A backend is up while a server takes traffic (drained ones do, for sessions they already hold);
    // one without servers (stats) answers by itself.
    const usable = servers.filter(({ v }) => v.op === 2);
    const up = !servers.length || usable.length > 0;
    const weight = usable.filter(({ s }) => !s.backup).reduce((w, { v }) => w + v.weight, 0) || usable.filter(({ s }) => s.backup).reduce((w, { v }) => w + v.weight, 0);
    rows.push({
      ...common, svname: 'BACKEND', qcur: 0, qmax: 0, status: up ? 'UP' : 'DOWN', weight, act: usable.filter(({ s }) => !s.backup).length, bck: usable.filter(({ s }) => s.backup).length, chkdown: 0,
      lastchg: Math.max(0, Math.floor((Date.now() - runtime.started) / 1000)), downtime: 0, sid: 0, lbtot: 0, type: 1, algo: p.algo,
    });
  }
  return `# ${STAT_COLUMNS.join(',')}\n${rows.map((r) => `${STAT_COLUMNS.map((c) => String(r[c] ?? '')).join(',')},\n`).join('')}`;
}

function showServersState(config: Config, runtime: Runtime, only: string | undefined): string {
  const backends = config.proxies.filter((p) => p.kind !== 'frontend' && (only === undefined || p.name === only));
  if (only !== undefined && !backends.length) return "Can't find backend.\n";
  const lines = ['1', '# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port'];
  for (const p of backends) {
    p.servers.forEach((s, i) => {
      const v = view(p, s, runtime);
      // check_status as haproxy's enum numbers it (HCHK_STATUS_L4OK 6, L7OKD 15; 0 unknown),
      // result 3 passed, state 6 a configured, enabled check.
      const status = v.check === 'L7OK' ? 15 : v.check === 'L4OK' ? 6 : 0;
      const health = v.check ? s.rise + s.fall - 1 : 0;
      lines.push([p.id, p.name, i + 1, s.name, s.addr, v.op, v.admin, s.weight, s.weight, v.lastchg, status, v.check ? 3 : 0, health, s.check ? 6 : 0, 0, 0, 0, '-', s.port, '-', 0, s.checkPort, '-', '-', 0].join(' '));
    });
  }
  return `${lines.join('\n')}\n`;
}
