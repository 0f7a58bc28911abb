import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@nestjs/common';
import { InMemoryUsageStore } from './in-memory-usage.store';
import { describeUsageStoreContract } from './usage.store.contract';
import { emptyCounts } from './usage.store';

describeUsageStoreContract('in memory', () => new InMemoryUsageStore('', () => '2000-01-01'));

describe('InMemoryUsageStore with a journal', () => {
  let dir: string;
  let journal: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'balancer-usage-'));
    journal = join(dir, 'data', 'usage.jsonl');
  });

  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('should keep usage across a restart, compacted', async () => {
    const first = new InMemoryUsageStore(journal, () => '2000-01-01');
    await first.open();
    for (let i = 0; i < 3; i += 1) {
      await first.add({
        day: '2026-12-01',
        client: 'alice',
        model: 'm',
        counts: { ...emptyCounts(), requests: 1, inputTokens: 7 },
      });
    }
    await first.close();
    const second = new InMemoryUsageStore(journal, () => '2000-01-01');
    await second.open();
    expect((await second.rows({ from: '2026-12-01', to: '2026-12-01' }))[0]?.counts).toMatchObject({
      requests: 3,
      inputTokens: 21,
    });
    expect(readFileSync(journal, 'utf8').trim().split('\n')).toHaveLength(1);
  });

  it('should skip and report lines that are not usage records, and drop days past the retention', async () => {
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(dir, 'data'));
    writeFileSync(
      journal,
      [
        JSON.stringify({ day: '2026-12-01', client: 'alice', model: 'm', requests: 2 }),
        '{"day":"2026-12-01","client":"alice","model":"m","requ',
        'not json',
        JSON.stringify({ day: '2026-11-01', client: 'alice', model: 'm', requests: 5 }),
        JSON.stringify({ day: '2026-12-01', client: 'bob', model: 'm', requests: -1 }),
        '',
      ].join('\n'),
    );
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const store = new InMemoryUsageStore(journal, () => '2026-11-15');
    await store.open();
    expect(warn).toHaveBeenCalledWith(expect.stringMatching(/skipped 3 line\(s\).*line 2, 3, 5/));
    warn.mockRestore();
    const rows = await store.rows({ from: '2026-01-01', to: '2026-12-31' });
    expect(rows.map((row) => [row.day, row.client, row.counts.requests])).toEqual([['2026-12-01', 'alice', 2]]);
  });
});
