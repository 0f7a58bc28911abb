import { SharedCall } from './shared-call';

async function collect(iterable: AsyncIterable<unknown>): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

describe('SharedCall', () => {
  it('should give a late subscriber every chunk from the first, then the live ones', async () => {
    const call = new SharedCall(0);
    const early = call.subscribe();
    call.setHead({ kind: 'stream', status: 200, headers: {} });
    call.push('a');
    call.push('b');
    const late = call.subscribe();
    const earlyChunks = collect(early.chunks());
    const lateChunks = collect(late.chunks());
    call.push('c');
    call.finish();
    expect(await earlyChunks).toEqual(['a', 'b', 'c']);
    expect(await lateChunks).toEqual(['a', 'b', 'c']);
    expect(await late.head).toEqual({ kind: 'stream', status: 200, headers: {} });
  });

  it('should abort at once when the last subscriber leaves and there is no grace', () => {
    const call = new SharedCall(0);
    const first = call.subscribe();
    const second = call.subscribe();
    first.release();
    expect(call.signal.aborted).toBe(false);
    second.release();
    second.release();
    expect(call.signal.aborted).toBe(true);
  });

  it('should keep an orphaned call alive for the grace period so a retry can attach', () => {
    jest.useFakeTimers();
    try {
      const call = new SharedCall(5000);
      call.subscribe().release();
      jest.advanceTimersByTime(4000);
      expect(call.signal.aborted).toBe(false);
      const retry = call.subscribe();
      jest.advanceTimersByTime(10_000);
      expect(call.signal.aborted).toBe(false);
      retry.release();
      jest.advanceTimersByTime(5001);
      expect(call.signal.aborted).toBe(true);
    } finally {
      jest.useRealTimers();
    }
  });

  it('should never abort a finished call and end readers when a non-stream head arrives', async () => {
    const call = new SharedCall(0);
    const subscription = call.subscribe();
    call.setHead({ kind: 'message', status: 200, headers: {}, body: '{}' });
    await subscription.ended;
    expect(await collect(subscription.chunks())).toEqual([]);
    subscription.release();
    expect(call.signal.aborted).toBe(false);
  });
});
