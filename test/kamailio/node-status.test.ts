/** readRegistrations over a ul.dump answer as usrloc prints it (numbers and words in Expires). */
import { describe, expect, it } from 'vitest';
import { contactExpires, readRegistrations } from '../../src/kamailio/node-status.js';
import type { KamailioRpc } from '../../src/kamailio/rpc-client.js';

describe('readRegistrations', () => {
  it('reads seconds left, permanent bindings as null and expired or deleted ones as 0', async () => {
    const contact = (address: string, expires: unknown) => ({ Contact: { Address: address, Expires: expires, 'User-Agent': 'sipp', Received: '[not set]' } });
    const dump = { Domains: [{ Domain: { Domain: 'location', AoRs: [{ Info: { AoR: '1001', Contacts: [contact('sip:a@1', 3590), contact('sip:b@1', 'permanent'), contact('sip:c@1', 'expired'), contact('sip:d@1', 'deleted')] } }] } }] };
    const rpc = { call: async () => dump } as unknown as KamailioRpc;
    const regs = await readRegistrations(rpc);
    expect(regs.get('1001')!.map((c) => [c.address, c.expires])).toEqual([['sip:a@1', 3590], ['sip:b@1', null], ['sip:c@1', 0], ['sip:d@1', 0]]);
    expect(regs.get('1001')![0]).toEqual({ address: 'sip:a@1', expires: 3590, userAgent: 'sipp' });
    expect([contactExpires('12'), contactExpires(undefined), contactExpires(-5)]).toEqual([12, 0, 0]);
  });
});
