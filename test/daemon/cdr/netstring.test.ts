import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NetstringDecoder, NetstringError, encodeNetstring } from '../../../src/daemon/cdr/netstring.js';

describe('NetstringDecoder', () => {
  it('decodes evapi framing ("47:{...},") across any chunking', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ maxLength: 200, unit: 'grapheme' }), { maxLength: 20 }), fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 30 }), (payloads, cuts) => {
        const wire = Buffer.concat(payloads.map((p) => encodeNetstring(p)));
        const d = new NetstringDecoder();
        const got: string[] = [];
        let pos = 0;
        for (let i = 0; pos < wire.length; i++) {
          const n = cuts[i % cuts.length]!;
          got.push(...d.push(wire.subarray(pos, pos + n)));
          pos += n;
        }
        expect(got).toEqual(payloads);
      }),
    );
  });

  it('counts bytes, not characters', () => {
    expect(new NetstringDecoder().push(Buffer.from('5:Zoë!,', 'utf8'))).toEqual(['Zoë!']);
  });

  it.each([
    ['x:abc,', /length byte/],
    ['3:abc;', /terminated/],
    ['03:abc,', /bad netstring length/],
    [':abc,', /bad netstring length/],
    ['999999999:', /exceeds|too long/],
    ['123456789', /too long/],
  ])('rejects %j', (wire, message) => {
    expect(() => new NetstringDecoder().push(Buffer.from(wire))).toThrow(NetstringError);
    expect(() => new NetstringDecoder().push(Buffer.from(wire))).toThrow(message);
  });
});
