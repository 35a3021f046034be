import { describe, expect, it } from 'vitest';
import { parseFacts, type NodeFacts } from '../../src/bootstrap/inspect.js';
import { productionDependencies } from '../../src/bootstrap/package.js';
import { blocked, changes, nodeDirs, planBootstrap, sha256, type BootstrapWants } from '../../src/bootstrap/plan.js';
import { managedFiles, renderRtpengineConf, renderUnit, type NodeSetup } from '../../src/bootstrap/render.js';
import { portPlan } from '../../src/lab/ports.js';

const DIR = '/srv/pbx';
const setup: NodeSetup = {
  dir: DIR, domain: 'pbx.example.com', sipAddress: '192.0.2.10', ports: portPlan(25000), serviceUser: 'pbxctl',
  daemonTokenFile: `${DIR}/etc/daemon.token`, serviceManager: 'supervisor', nodeBinary: '/usr/bin/node',
};
const pkg = { sha256: 'a'.repeat(64), bytes: 13 * 1048576, nodeAbi: '115' };
const files = managedFiles(setup, pkg.sha256);
const wants = (o: Partial<BootstrapWants> = {}): BootstrapWants => ({ dir: DIR, serviceUser: 'pbxctl', tokenFile: setup.daemonTokenFile, files, package: pkg, installPackages: false, ...o });

/** A node bootstrap has fully set up. */
function upToDate(): NodeFacts {
  return {
    uid: 0, login: 'root', os: { id: 'debian', idLike: '', versionId: '12', prettyName: 'Debian GNU/Linux 12 (bookworm)' },
    packages: { kamailio: true, 'kamailio-json-modules': true, 'kamailio-extra-modules': true, 'kamailio-utils-modules': true, 'rtpengine-daemon': true, nodejs: true },
    node: { path: '/usr/bin/node', version: 'v20.20.2', abi: '115' }, systemd: false, serviceUserExists: true,
    files: Object.fromEntries(files.map((f) => [f.path, sha256(f.content)])), tokenExists: true, packageHash: pkg.sha256, current: 'releases/r1',
    dirs: Object.fromEntries(nodeDirs(DIR, 'root', 'pbxctl').map((d) => [d.path, { mode: d.mode, owner: d.owner, group: d.group }])),
    running: { rtpengine: true, kamailio: true, daemon: true },
  };
}

describe('bootstrap inspection', () => {
  it('parses the inspection script output', () => {
    const f = parseFacts([
      'uid=0', 'login=root', 'os_id=debian', 'os_like=', 'os_version=12', 'os_pretty=Debian GNU/Linux 12 (bookworm)',
      'pkg=kamailio 1', 'pkg=rtpengine-daemon 0', 'node_path=/usr/bin/node', 'node_version=v20.20.2', 'node_abi=115', 'systemd=offline', 'user=0',
      `file=${'b'.repeat(64)} /srv/pbx/etc/kamailio.cfg`, 'token=1', 'package=', 'current=releases/empty', 'dir=2750 root pbxctl /srv/pbx',
      'sup=kamailio 1', 'sup=daemon 0', 'unit=kamailio inactive',
    ].join('\n'));
    expect(f).toMatchObject({ uid: 0, systemd: false, serviceUserExists: false, tokenExists: true, current: 'releases/empty' });
    expect(f.packages).toEqual({ kamailio: true, 'rtpengine-daemon': false });
    expect(f.node).toEqual({ path: '/usr/bin/node', version: 'v20.20.2', abi: '115' });
    expect(f.files['/srv/pbx/etc/kamailio.cfg']).toBe('b'.repeat(64));
    expect(f.dirs['/srv/pbx']).toEqual({ mode: '2750', owner: 'root', group: 'pbxctl' });
    expect(f.packageHash).toBeUndefined();
    // Without systemd the supervisor's pidfiles say what runs.
    expect(f.running).toEqual({ kamailio: true, daemon: false });
    expect(parseFacts('systemd=degraded\nunit=kamailio active\nsup=kamailio 0').running).toEqual({ kamailio: true });
  });
});

describe('bootstrap plan', () => {
  it('changes nothing on a node that is set up', () => {
    const steps = planBootstrap(upToDate(), wants());
    expect(changes(steps)).toEqual([]);
    expect(blocked(steps)).toEqual([]);
    expect(steps.every((s) => s.action === '=')).toBe(true);
  });

  it('sets up a fresh node in order: user, directories, release, token, package, files, services', () => {
    const f = { ...upToDate(), serviceUserExists: false, files: {}, tokenExists: false, packageHash: undefined, current: undefined, dirs: {}, running: {} } as NodeFacts;
    const ops = changes(planBootstrap(f, wants())).map((s) => s.op!.kind);
    expect(ops).toEqual(['create-user', ...nodeDirs(DIR, 'root', 'pbxctl').map(() => 'dir'), 'initial-release', 'token', 'package', 'file', 'file', 'file', 'services']);
    const services = changes(planBootstrap(f, wants())).at(-1)!.op;
    expect(services).toEqual({ kind: 'services', start: ['rtpengine', 'kamailio', 'daemon'], restart: [] });
  });

  it('restarts only the service whose configuration changed', () => {
    const f = upToDate();
    f.files[`${DIR}/etc/kamailio.cfg`] = 'c'.repeat(64);
    const steps = planBootstrap(f, wants());
    expect(steps).toContainEqual({ action: '~', title: `update ${DIR}/etc/kamailio.cfg`, op: expect.objectContaining({ kind: 'file' }) });
    expect(changes(steps).at(-1)!.op).toEqual({ kind: 'services', start: [], restart: ['kamailio'] });
    const newer = planBootstrap(upToDate(), wants({ package: { ...pkg, sha256: 'd'.repeat(64) } }));
    expect(changes(newer).at(-1)!.op).toEqual({ kind: 'services', start: [], restart: ['daemon'] });
  });

  it('fixes directory permissions that drifted', () => {
    const f = upToDate();
    f.dirs[`${DIR}/etc`] = { mode: '755', owner: 'root', group: 'root' };
    expect(changes(planBootstrap(f, wants())).map((s) => s.title)).toEqual([`fix ${DIR}/etc/ (755 root:root -> 2750 root:pbxctl)`]);
  });

  it('blocks on missing packages unless asked to install them (Node.js included)', () => {
    const f = { ...upToDate(), packages: { ...upToDate().packages, 'rtpengine-daemon': false }, node: undefined };
    expect(blocked(planBootstrap(f, wants())).map((s) => s.title)).toEqual(['missing packages: rtpengine-daemon nodejs (pass --install-packages to install them with apt-get)']);
    expect(changes(planBootstrap(f, wants({ installPackages: true })))[0]!.op).toEqual({ kind: 'install-packages', packages: ['rtpengine-daemon', 'nodejs'] });
  });

  it('blocks on a foreign OS, a non-root login, an old Node.js and another native module ABI', () => {
    const titles = (f: NodeFacts) => blocked(planBootstrap(f, wants())).map((s) => s.title).join('\n');
    expect(titles({ ...upToDate(), os: { id: 'fedora', idLike: '', versionId: '40', prettyName: 'Fedora 40' } })).toMatch(/runs Fedora 40/);
    expect(titles({ ...upToDate(), uid: 1000, login: 'deploy' })).toMatch(/logged in as deploy/);
    expect(titles({ ...upToDate(), node: { path: '/usr/bin/node', version: 'v18.19.0', abi: '108' } })).toMatch(/too old/);
    expect(titles({ ...upToDate(), node: { path: '/usr/bin/node', version: 'v22.1.0', abi: '127' } })).toMatch(/ABI 127/);
    expect(titles({ ...upToDate(), os: { id: 'ubuntu', idLike: 'debian', versionId: '24.04', prettyName: 'Ubuntu' } })).toBe('');
  });
});

describe('bootstrap rendering', () => {
  it('renders rtpengine.conf with the node ports and without the DTMF log destination', () => {
    const conf = renderRtpengineConf(setup);
    expect(conf).toContain('interface = 192.0.2.10');
    expect(conf).toContain(`listen-ng = 127.0.0.1:${setup.ports.ng}`);
    expect(conf).toContain(`port-min = ${setup.ports.rtpMin}`);
    expect(conf).not.toMatch(/\{\{|dtmf-log-dest/);
  });

  it('renders the systemd units for the node dir and service user', () => {
    const s = { ...setup, serviceManager: 'systemd' as const, serviceUser: 'voice' };
    const unit = renderUnit('pbxctl-daemon.service', s);
    expect(unit).toContain(`ExecStart=/usr/bin/node ${DIR}/app/bin/pbxctl daemon --root ${DIR}`);
    expect(unit).toContain(`LoadCredential=daemon-token:${DIR}/etc/daemon.token`);
    expect(unit).toMatch(/^User=voice$/m);
    expect(unit).not.toContain('/var/lib/pbxctl');
    expect(renderUnit('pbxctl-rtpengine.service', s)).toContain(`--config-file=${DIR}/etc/rtpengine.conf`);
    expect(managedFiles(s, pkg.sha256).map((f) => f.path)).toEqual(expect.arrayContaining(['/etc/systemd/system/pbxctl-kamailio.service', '/etc/default/pbxctl-daemon']));
    expect(files.map((f) => f.path)).toEqual([`${DIR}/etc/kamailio.cfg`, `${DIR}/etc/rtpengine.conf`, `${DIR}/etc/node.json`]);
  });

  it('ships the production dependencies only', async () => {
    const deps = await productionDependencies();
    expect(deps).toEqual(expect.arrayContaining(['node_modules/node-ssh', 'node_modules/ssh2', 'node_modules/@oclif/core']));
    expect(deps.some((d) => /node_modules\/(vitest|typescript|eslint)$/.test(d))).toBe(false);
  });
});
