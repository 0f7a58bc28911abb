import { LIVE_WINDOW_SECONDS, LiveTraffic } from './live-traffic';

const T0 = 1_800_000_000_000;

describe('LiveTraffic', () => {
  it('should count requests per second per provider, with 5xx as failed and 4xx as rejected', () => {
    const traffic = new LiveTraffic();
    traffic.record('main', '200', 40, T0);
    traffic.record('main', '200', 60, T0 + 100);
    traffic.record('main', '529', undefined, T0 + 1000);
    traffic.record('main', '429', undefined, T0 + 1000);
    traffic.record('spare', '200', 10, T0 + 2000);

    const [main, spare] = traffic.snapshot(T0 + 2000);
    expect(main).toMatchObject({ provider: 'main', requests: 4, failed: 1, rejected: 1 });
    expect(main!.perSecond.slice(-3)).toEqual([2, 2, 0]);
    expect(spare).toMatchObject({ provider: 'spare', requests: 1, ttfbP50Ms: 10, ttfbP95Ms: 10 });
  });

  it('should forget seconds older than the window, and a provider with none left', () => {
    const traffic = new LiveTraffic();
    traffic.record('old', '200', 5, T0);
    traffic.record('main', '200', 5, T0);
    traffic.record('main', '200', 5, T0 + LIVE_WINDOW_SECONDS * 1000);

    const snapshot = traffic.snapshot(T0 + LIVE_WINDOW_SECONDS * 1000);
    expect(snapshot.map((t) => [t.provider, t.requests])).toEqual([['main', 1]]);
  });

  it('should reuse a slot once its second comes round again', () => {
    const traffic = new LiveTraffic();
    traffic.record('main', '200', 5, T0);
    traffic.record('main', '200', 5, T0 + LIVE_WINDOW_SECONDS * 1000);
    traffic.record('main', '200', 5, T0 + LIVE_WINDOW_SECONDS * 1000);

    expect(traffic.snapshot(T0 + LIVE_WINDOW_SECONDS * 1000)[0]!.requests).toBe(2);
  });

  it('should give nearest-rank percentiles of the first byte times', () => {
    const traffic = new LiveTraffic();
    for (let ms = 1; ms <= 20; ms += 1) traffic.record('main', '200', ms, T0 + ms * 40);

    expect(traffic.snapshot(T0 + 1000)[0]).toMatchObject({ ttfbP50Ms: 10, ttfbP95Ms: 19 });
  });

  it('should keep a bounded sample of a busy second that still spans its times', () => {
    let draw = 0;
    // A deterministic stand-in for Math.random: cycles through the whole [0, 1) range.
    const traffic = new LiveTraffic(() => (draw++ % 100) / 100);
    for (let i = 0; i < 10_000; i += 1) traffic.record('main', '200', i < 5_000 ? 10 : 1_000, T0);

    const [main] = traffic.snapshot(T0);
    expect(main!.requests).toBe(10_000);
    expect(main!.ttfbP50Ms).not.toBeNull();
    expect(main!.ttfbP95Ms).toBe(1_000);
  });

  it('should report no first byte percentiles for requests that sent none', () => {
    const traffic = new LiveTraffic();
    traffic.record('none', '404', undefined, T0);

    expect(traffic.snapshot(T0)[0]).toMatchObject({ requests: 1, rejected: 1, ttfbP50Ms: null, ttfbP95Ms: null });
  });
});
