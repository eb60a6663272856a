// Runs a minified build of the fixture program (argv[2]) under the real
// @sentry/node SDK and prints the events it would send, as a JSON array:
// beforeSend collects each event and drops it, so nothing leaves the
// process (the DSN points at a closed port anyway).
const { createRequire } = require('node:module');
const { join } = require('node:path');

const nodeRequire = createRequire(join(process.env.STACKLENS_NODE_MODULES, 'noop.js'));
const Sentry = nodeRequire('@sentry/node');

const events = [];
Sentry.init({
  dsn: 'http://public@127.0.0.1:1/1',
  release: 'fixture@1.0',
  tracesSampleRate: 0,
  beforeSend(event) {
    events.push(event);
    return null;
  },
});

globalThis.__stacklensOnResults = async (results) => {
  for (const r of results) {
    if (r.error) {
      Sentry.captureException(r.error, { tags: { scenario: r.scenario } });
    }
  }
  await Sentry.flush(5000);
  process.stdout.write(JSON.stringify(events) + '\n');
};

require(process.argv[2]);
