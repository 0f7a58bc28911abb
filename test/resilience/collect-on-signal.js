// Loaded into a gateway under test (node --expose-gc --require): SIGUSR2 runs full collections and says so on stdout,
// so a test can read what the heap holds once garbage is gone, instead of guessing from readings between collections.
'use strict';
process.on('SIGUSR2', () => {
  global.gc();
  global.gc();
  process.stdout.write(`collected ${process.memoryUsage().heapUsed}\n`);
});
