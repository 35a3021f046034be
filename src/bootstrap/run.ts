/**
 * `pbxctl node bootstrap`, the library side: connect to the node (known_hosts checked), pack
 * pbxctl, inspect the node, plan (plan.ts), and, once confirmed, carry the steps out in order and
 * check the services' health (Kamailio JSON-RPC `core.version` and the daemon's GET /v1/health
 * through SSH tunnels, RTPengine's NG ping on the node itself since NG is UDP).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { renderReleaseFiles } from '../compile/release-files.js';
import { PbxError } from '../lib/errors.js';
import type { NodeSpec } from '../model/types.js';
import { type SshConnection, sftpCall, shellQuote } from '../targets/ssh-connection.js';
import { nodeDir, nodePorts, nodeTokenFile } from '../targets/ssh-node.js';
import { sshConnectionFor, sshTarget } from '../targets/ssh.js';
import { inspectNode, type NodeFacts, type NodeShell } from './inspect.js';
import { packPbxctl, type PackedPbxctl } from './package.js';
import { blocked, MIN_NODE, nodeDirs, nodeVersionOk, planBootstrap, type BootstrapOp, type BootstrapStep } from './plan.js';
import { managedFiles, type NodeSetup } from './render.js';

/** Options of {@link prepareBootstrap}. */
export interface BootstrapOptions {
  /** The repo's SIP domain (pbx.yaml `domain`): the digest realm the Kamailio script is rendered for. */
  domain: string;
  installPackages?: boolean;
  acceptNewHostKey?: boolean;
  env?: NodeJS.ProcessEnv;
}

/** A prepared bootstrap: the plan, and what it needs to run. Call {@link BootstrapSession.close} when done. */
export interface BootstrapSession {
  node: NodeSpec;
  facts: NodeFacts;
  setup: NodeSetup;
  steps: BootstrapStep[];
  pkg: PackedPbxctl;
  shell: NodeShell;
  close(): Promise<void>;
}

/** The node's shell over an SSH connection: exec, SFTP writes under a temp name renamed into place, uploads. */
export function sshShell(conn: SshConnection): NodeShell {
  let seq = 0;
  return {
    label: conn.label,
    exec: (command, stdin) => conn.exec(command, stdin),
    writeFile: (path, content, mode) =>
      conn.run(`writing ${path}`, async (sftp) => {
        const tmp = `${path}.tmp-${process.pid}-${++seq}`;
        const data = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
        const handle = await sftpCall<Buffer>((cb) => sftp.open(tmp, 'w', { mode }, cb));
        try {
          for (let off = 0; off < data.length; off += 32_768) {
            await sftpCall((cb) => sftp.write(handle, data, off, Math.min(32_768, data.length - off), off, cb));
          }
          await sftpCall((cb) => sftp.ext_openssh_fsync(handle, cb));
        } finally {
          await sftpCall((cb) => sftp.close(handle, cb)).catch(() => undefined);
        }
        await sftpCall((cb) => sftp.ext_openssh_rename(tmp, path, cb));
      }),
    upload: (local, remote) => conn.run(`uploading ${remote}`, (sftp) => sftpCall((cb) => sftp.fastPut(local, remote, { mode: 0o640, concurrency: 16 }, cb))),
  };
}

/** Runs a command on the node and fails with its output unless it exits 0. */
async function must(shell: NodeShell, what: string, command: string, stdin?: string): Promise<string> {
  const r = await shell.exec(command, stdin);
  if (r.code !== 0) {
    throw new PbxError('NODE_BOOTSTRAP_STEP_FAILED', `${what} failed on ${shell.label} (exit ${r.code ?? 'signal'}): ${(r.stderr || r.stdout).trim().split('\n').slice(-15).join('\n')}`, {
      hint: 'Fix the cause on the node, then run pbxctl node bootstrap again: it continues from what is already done.',
    });
  }
  return r.stdout;
}

/**
 * Connects, packs pbxctl, inspects the node and plans. Nothing on the node changes.
 * @throws PbxError SSH_* (connection), PACKAGE_NOT_BUILT, NODE_SIP_ADDRESS
 */
export async function prepareBootstrap(node: NodeSpec, opts: BootstrapOptions): Promise<BootstrapSession> {
  if (node.type !== 'ssh') throw new PbxError('NODE_NOT_SSH', `node ${node.name} is type ${node.type}; bootstrap sets up nodes reached over SSH`, { hint: 'For this machine use pbxctl lab up, or give the node type: ssh.' });
  if (!node.sipAddress || isIP(node.sipAddress) === 0) {
    throw new PbxError('NODE_SIP_ADDRESS', `node ${node.name} needs sipAddress: the IP address Kamailio and RTPengine listen on${node.sipAddress ? ` ("${node.sipAddress}" is not an IP address)` : ''}`, { hint: 'Set sipAddress on the node in pbx.yaml to an address the node owns.' });
  }
  const conn = sshConnectionFor(node, { ...(opts.acceptNewHostKey ? { acceptNewHostKey: true } : {}), ...(opts.env ? { env: opts.env } : {}) });
  const work = await mkdtemp(join(tmpdir(), 'pbxctl-bootstrap-'));
  const close = async () => {
    conn.close();
    await rm(work, { recursive: true, force: true });
  };
  try {
    await conn.connect();
    const shell = sshShell(conn);
    const pkg = await packPbxctl(work);
    const dir = nodeDir(node);
    const serviceUser = node.serviceUser ?? 'pbxctl';
    const tokenFile = nodeTokenFile(node);
    const ports = nodePorts(node);
    // The manager and node path come from the node itself; inspect once with a provisional setup.
    const base = { dir, domain: opts.domain, sipAddress: node.sipAddress, ports, serviceUser, daemonTokenFile: tokenFile };
    const probeFiles = (s: NodeSetup) => managedFiles(s, pkg.sha256).map((f) => f.path);
    const provisional: NodeSetup = { ...base, serviceManager: 'systemd', nodeBinary: '/usr/bin/node' };
    const facts = await inspectNode(shell, { dir, serviceUser, tokenFile, files: probeFiles(provisional), dirs: nodeDirs(dir, 'root', serviceUser).map((d) => d.path) });
    const setup: NodeSetup = { ...base, serviceManager: facts.systemd ? 'systemd' : 'supervisor', nodeBinary: facts.node?.path ?? '/usr/bin/node' };
    const steps = planBootstrap(facts, { dir, serviceUser, tokenFile, files: managedFiles(setup, pkg.sha256), package: pkg, installPackages: !!opts.installPackages });
    return { node, facts, setup, steps, pkg, shell, close };
  } catch (e) {
    await close();
    throw e;
  }
}

/** Progress of {@link executeBootstrap}: a step started/finished/failed. */
export type BootstrapProgress = (step: BootstrapStep, status: 'start' | 'done' | 'failed', detail?: string) => void;

/**
 * Carries out the plan's steps in order.
 * @throws PbxError NODE_BOOTSTRAP_BLOCKED when the plan has `!` lines; NODE_BOOTSTRAP_STEP_FAILED
 *   naming the step and the node's output; SSH_CONNECTION_LOST
 */
export async function executeBootstrap(s: BootstrapSession, onProgress: BootstrapProgress = () => undefined): Promise<void> {
  const problems = blocked(s.steps);
  if (problems.length) {
    throw new PbxError('NODE_BOOTSTRAP_BLOCKED', `cannot bootstrap ${s.node.name}:\n${problems.map((p) => `  ! ${p.title}`).join('\n')}`, { hint: 'Fix these on the node (or pass the flag named), then run bootstrap again.' });
  }
  for (const step of s.steps) {
    if (!step.op) continue;
    onProgress(step, 'start');
    try {
      await runOp(s, step.op);
    } catch (e) {
      onProgress(step, 'failed', e instanceof Error ? e.message : String(e));
      throw e;
    }
    onProgress(step, 'done');
  }
}

async function runOp(s: BootstrapSession, op: BootstrapOp): Promise<void> {
  const { shell, setup } = s;
  const q = shellQuote;
  const dir = setup.dir;
  const node = s.facts.node?.path ?? 'node';
  switch (op.kind) {
    case 'install-packages': {
      await must(shell, 'apt-get install', `export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && apt-get install -y -qq --no-install-recommends ${op.packages.map(q).join(' ')}`);
      if (!op.packages.includes('nodejs')) return;
      // The plan could not judge a Node.js that was not there yet (Debian 12's nodejs is 18: too old).
      const [path = 'node', version = '', abi = ''] = (await must(shell, 'checking Node.js', 'node -p "[process.execPath, process.version, process.versions.modules].join(\' \')"')).trim().split(' ');
      if (!nodeVersionOk(version) || abi !== s.pkg.nodeAbi) {
        throw new PbxError('NODE_NODEJS_UNSUITABLE', `the installed Node.js ${version} (module ABI ${abi}) cannot run this pbxctl (needs ${MIN_NODE.join('.')} or later with ABI ${s.pkg.nodeAbi})`, {
          hint: 'Install the Node.js version you run pbxctl with on the node (e.g. from NodeSource), then run bootstrap again.',
        });
      }
      s.facts.node = { path, version, abi };
      return;
    }
    case 'create-user':
      await must(shell, `creating user ${op.user}`, `useradd --system --user-group --home-dir ${q(op.home)} --no-create-home --shell /usr/sbin/nologin ${q(op.user)}`);
      return;
    case 'dir':
      await must(shell, `setting up ${op.path}`, `mkdir -p ${q(op.path)} && chown ${q(`${op.owner}:${op.group}`)} ${q(op.path)} && chmod ${op.mode} ${q(op.path)}`);
      return;
    case 'token': {
      await shell.writeFile(op.path, `${randomBytes(32).toString('hex')}\n`, 0o640);
      await must(shell, 'securing the token', `chown ${q(`root:${op.group}`)} ${q(op.path)} && chmod 0640 ${q(op.path)}`);
      return;
    }
    case 'package': {
      const id = op.sha256.slice(0, 12);
      const pkgs = posix.join(dir, 'packages');
      const upload = posix.join(pkgs, `.upload-${id}.tar.gz`);
      await shell.upload(s.pkg.file, upload);
      // Unpacked beside the old one, then `app` is switched with one rename: a daemon restarting
      // meanwhile starts either the old or the new package, never a half-unpacked one.
      await must(shell, 'unpacking pbxctl', [
        'set -e', `cd ${q(pkgs)}`, `rm -rf ${id}.tmp`, `mkdir ${id}.tmp`, `tar -xzf ${q(upload)} -C ${id}.tmp --no-same-owner`,
        `echo ${op.sha256} > ${id}.tmp/.package-hash`, `rm -rf ${id}`, `mv ${id}.tmp ${id}`,
        `prev=$(basename "$(readlink ${q(`${dir}/app`)} 2>/dev/null || echo none)")`,
        `ln -sfn packages/${id} ${q(`${dir}/app.tmp`)}`, `mv -T ${q(`${dir}/app.tmp`)} ${q(`${dir}/app`)}`, `rm -f ${q(upload)}`,
        // The previous package stays: its daemon keeps running from it until the services step restarts it.
        `for p in *; do [ "$p" = ${id} ] || [ "$p" = "$prev" ] || rm -rf -- "$p"; done`,
      ].join('\n'));
      return;
    }
    case 'file': {
      const f = op.file;
      if (f.path.endsWith('/kamailio.cfg')) {
        // Checked before it replaces the running script's file: a bad script never lands.
        await shell.writeFile(`${f.path}.new`, f.content, f.mode);
        const r = await shell.exec(`kamailio -c -f ${q(`${f.path}.new`)} 2>&1`);
        if (r.code !== 0) {
          await shell.exec(`rm -f ${q(`${f.path}.new`)}`);
          throw new PbxError('NODE_KAMAILIO_CONFIG_INVALID', `kamailio -c rejected the rendered script on ${shell.label}:\n${r.stdout.split('\n').filter((l) => /ERROR|CRITICAL/.test(l)).slice(-10).join('\n')}`, { hint: 'Are the Kamailio module packages installed (kamailio-json-modules, kamailio-extra-modules, kamailio-utils-modules)?' });
        }
        await must(shell, `installing ${f.path}`, `mv -f ${q(`${f.path}.new`)} ${q(f.path)}`);
        return;
      }
      await shell.writeFile(f.path, f.content, f.mode);
      return;
    }
    case 'initial-release': {
      for (const f of renderReleaseFiles([])) {
        const path = posix.join(dir, 'releases', 'empty', f.path);
        await must(shell, 'creating releases/empty', `mkdir -p ${q(posix.dirname(path))}`);
        await shell.writeFile(path, f.content, f.mode ?? 0o640);
        // Owner-only files go to the service user, as the SSH target does for apply's releases.
        if (((f.mode ?? 0o640) & 0o040) === 0) await must(shell, `handing ${path} to ${setup.serviceUser}`, `chown ${q(`${setup.serviceUser}:${setup.serviceUser}`)} ${q(path)}`);
      }
      await must(shell, 'pointing current at releases/empty', `ln -sfn releases/empty ${q(`${dir}/current.tmp`)} && mv -T ${q(`${dir}/current.tmp`)} ${q(`${dir}/current`)}`);
      return;
    }
    case 'systemd-units':
      await must(shell, 'enabling the units', [
        'systemctl daemon-reload',
        // Debian's own units use the same ports; the pbxctl-* units replace them.
        'systemctl disable --now kamailio.service rtpengine-daemon.service 2>/dev/null || true',
        'systemctl mask kamailio.service rtpengine-daemon.service',
        'systemctl enable pbxctl-rtpengine.service pbxctl-kamailio.service pbxctl-daemon.service',
      ].join(' && '));
      return;
    case 'services': {
      const unit = (n: string) => `pbxctl-${n}.service`;
      if (setup.serviceManager === 'systemd') {
        const cmds = [...op.restart.map((n) => `systemctl restart ${unit(n)}`), ...op.start.map((n) => `systemctl start ${unit(n)}`)];
        await must(shell, 'starting services', cmds.join(' && '));
      } else {
        const restart = op.restart.flatMap((n) => ['--restart', n]).join(' ');
        await must(shell, 'starting services', `${q(node)} ${q(`${dir}/app/bin/pbxctl`)} node services start --dir ${q(dir)} ${restart}`);
      }
      return;
    }
  }
}

/** Health of a bootstrapped node. */
export interface NodeHealth {
  kamailio: { ok: boolean; version?: string; error?: string };
  rtpengine: { ok: boolean; error?: string };
  daemon: { ok: boolean; configVersion?: string | null; error?: string };
}

/** One NG ping on the node's loopback (NG is UDP: no SSH tunnel carries it). Prints `pong` or nothing. */
const NG_PING_JS = `const d=require('dgram').createSocket('udp4');const c='pbxctl'+process.pid;const t=setTimeout(()=>process.exit(1),2000);d.on('message',m=>{const s=m.toString('latin1');if(s.startsWith(c+' ')&&s.includes('6:result4:pong')){console.log('pong');clearTimeout(t);d.close();}});d.send(Buffer.from(c+' d7:command4:pinge','latin1'),Number(process.argv[1]),'127.0.0.1');`;

/**
 * Checks the node's services: Kamailio `core.version` and the daemon's /v1/health through the SSH
 * target's tunnels, RTPengine with an NG ping run on the node.
 */
export async function checkHealth(s: BootstrapSession, opts: { env?: NodeJS.ProcessEnv } = {}): Promise<NodeHealth> {
  const h: NodeHealth = { kamailio: { ok: false }, rtpengine: { ok: false }, daemon: { ok: false } };
  const ping = await s.shell.exec(`${shellQuote(s.facts.node?.path ?? 'node')} -e ${shellQuote(NG_PING_JS)} ${s.setup.ports.ng}`).catch((e: unknown) => ({ code: 1, stdout: '', stderr: (e as Error).message }));
  h.rtpengine = ping.stdout.includes('pong') ? { ok: true } : { ok: false, error: `no pong from 127.0.0.1:${s.setup.ports.ng} on the node${ping.stderr ? `: ${ping.stderr.trim()}` : ''}` };
  const target = await sshTarget(s.node, opts.env ? { env: opts.env } : {});
  try {
    try {
      h.kamailio = { ok: true, version: String(await target.rpc.call('core.version')).trim() };
    } catch (e) {
      h.kamailio = { ok: false, error: (e as Error).message };
    }
    try {
      const d = await target.daemon!.health();
      h.daemon = { ok: d.status === 'ok', configVersion: d.configVersion };
    } catch (e) {
      h.daemon = { ok: false, error: (e as Error).message };
    }
  } finally {
    await target.close();
  }
  return h;
}
