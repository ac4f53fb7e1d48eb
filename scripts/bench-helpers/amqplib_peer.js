// The amqplib (Node.js) side of scripts/bench: what amqpctl is compared with, on the
// same three paths as the pika and lapin peers, each amqplib's fastest idiomatic way.
//
//   node amqplib_peer.js publish PORT QUEUE N TEXT          channel.publish N times,
//                                                           waiting for 'drain' when
//                                                           it returns false
//   node amqplib_peer.js confirm PORT QUEUE N TEXT WINDOW   a ConfirmChannel; publish,
//                                                           and every WINDOW messages
//                                                           waitForConfirms()
//   node amqplib_peer.js consume PORT QUEUE N PREFETCH OUT  prefetch(PREFETCH), consume,
//                                                           one multiple ack every
//                                                           PREFETCH/2, stop after N
//
// Bodies are `I:TEXT` for I = 1..N, as `amqpctl pub --nb-messages N -m TEXT` sends them.
// The consumer writes `Received: BODY` lines to OUT, as `amqpctl con` does.
// amqplib is found through NODE_PATH (scripts/bench installs it into target/bench-node).
'use strict';

const fs = require('fs');
const amqp = require('amqplib');

function usage() {
  console.error('usage: amqplib_peer.js publish|confirm|consume PORT QUEUE N ...');
  process.exit(2);
}

const [cmd, port, queue, nArg, a5, a6] = process.argv.slice(2);
if (!cmd || !port || !queue || !nArg) usage();
const n = parseInt(nArg, 10);
const url = `amqp://guest:guest@127.0.0.1:${port}/%2F`;

function drained(ch) {
  return new Promise((resolve) => ch.once('drain', resolve));
}

async function publish(text, windowSize) {
  const conn = await amqp.connect(url);
  const ch = windowSize ? await conn.createConfirmChannel() : await conn.createChannel();
  const suffix = ':' + text;
  for (let i = 1; i <= n; i++) {
    const ok = ch.publish('', queue, Buffer.from(i + suffix));
    if (windowSize && (i % windowSize === 0 || i === n)) {
      await ch.waitForConfirms();
    } else if (!ok) {
      await drained(ch);
    }
  }
  await ch.close();
  await conn.close();
}

async function consume(prefetch, outPath) {
  const conn = await amqp.connect(url);
  const ch = await conn.createChannel();
  await ch.prefetch(prefetch);
  const fd = fs.openSync(outPath, 'w');
  const every = Math.max(1, Math.floor(prefetch / 2));
  let got = 0;
  let lines = [];
  await new Promise((resolve, reject) => {
    conn.on('error', reject);
    ch.on('error', reject);
    ch.consume(queue, (msg) => {
      if (msg === null) return reject(new Error('consumer cancelled by the broker'));
      if (got >= n) return; // arrived after the last one; unacked, goes back to the queue
      lines.push(Buffer.from('Received: '), msg.content, Buffer.from('\n'));
      got++;
      if (got % every === 0 || got === n) {
        fs.writeSync(fd, Buffer.concat(lines));
        lines = [];
        ch.ack(msg, true);
      }
      if (got === n) resolve();
    }, { noAck: false }).catch(reject);
  });
  fs.closeSync(fd);
  await ch.close();
  await conn.close();
}

async function main() {
  if (cmd === 'publish') await publish(a5, 0);
  else if (cmd === 'confirm') await publish(a5, Math.max(1, parseInt(a6, 10)));
  else if (cmd === 'consume') await consume(parseInt(a5, 10), a6);
  else usage();
}

main().catch((e) => {
  console.error(`amqplib-peer: ${e.message}`);
  process.exit(1);
});
