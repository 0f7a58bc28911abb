/**
 * A second host on this machine: a network namespace joined to this one by a veth pair, so a test can call the gateway
 * from an address that is not loopback (tests may only reach this machine, and every address of its own namespace
 * counts as local to the kernel but not to the gateway: only 127.0.0.0/8 and ::1 are loopback).
 * Making one needs root and iproute2.
 */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { randomBytes, randomInt } from 'node:crypto';

export interface RemoteCall {
  readonly method?: string;
  readonly path: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
}

export interface RemoteAnswer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly text: string;
}

export interface RemoteHost {
  /** This machine's address as the remote host reaches it. */
  readonly gatewayAddress: string;
  /** The remote host's own address, as the gateway sees its callers. */
  readonly address: string;
  /**
   * Makes the calls from inside the remote host, one after another, to `http://gatewayAddress:port` (in a child
   * process, so fakes served by this one keep answering).
   */
  callAll(port: number, calls: readonly RemoteCall[]): Promise<RemoteAnswer[]>;
  remove(): void;
}

export function canMakeRemoteHosts(): boolean {
  if (process.getuid?.() !== 0) return false;
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Runs inside the namespace: reads the calls from argv, prints their answers as JSON. */
const CALLER = `
const [base, calls] = [process.argv[1], JSON.parse(process.argv[2])];
(async () => {
  const answers = [];
  for (const call of calls) {
    const response = await fetch(base + call.path, { method: call.method ?? 'GET', headers: call.headers, body: call.body });
    answers.push({ status: response.status, headers: Object.fromEntries(response.headers), text: await response.text() });
  }
  process.stdout.write(JSON.stringify(answers));
})().catch((error) => { process.stderr.write(String(error.cause ?? error)); process.exit(1); });
`;

export function makeRemoteHost(): RemoteHost {
  const id = randomBytes(3).toString('hex');
  const namespace = `balancer-${id}`;
  const [here, there] = [`bal${id}h`, `bal${id}r`];
  const subnet = `10.254.${randomInt(256)}`;
  const [gatewayAddress, address] = [`${subnet}.1`, `${subnet}.2`];
  const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const remove = () => {
    // Deleting the namespace deletes the veth end inside it, and with it the pair.
    for (const args of [
      ['netns', 'delete', namespace],
      ['link', 'delete', here],
    ]) {
      try {
        ip(...args);
      } catch {
        // already gone
      }
    }
  };
  try {
    ip('netns', 'add', namespace);
    ip('link', 'add', here, 'type', 'veth', 'peer', 'name', there);
    ip('link', 'set', there, 'netns', namespace);
    ip('addr', 'add', `${gatewayAddress}/30`, 'dev', here);
    ip('link', 'set', here, 'up');
    ip('netns', 'exec', namespace, 'ip', 'addr', 'add', `${address}/30`, 'dev', there);
    ip('netns', 'exec', namespace, 'ip', 'link', 'set', there, 'up');
    ip('netns', 'exec', namespace, 'ip', 'link', 'set', 'lo', 'up');
  } catch (error) {
    remove();
    throw error;
  }
  return {
    gatewayAddress,
    address,
    remove,
    callAll: async (port, calls) => {
      const { stdout } = await promisify(execFile)(
        'ip',
        [
          'netns',
          'exec',
          namespace,
          process.execPath,
          '-e',
          CALLER,
          `http://${gatewayAddress}:${port}`,
          JSON.stringify(calls),
        ],
        { encoding: 'utf8', timeout: 30_000 },
      );
      return JSON.parse(stdout) as RemoteAnswer[];
    },
  };
}
