// Connect the way a Node.js program does and print what happened.
// `node client.js HOST PORT auto|noauto`: `autoSelectFamily` true or false (the default from
// Node 20, and before it). Prints `connected ADDRESS` or `error CODE MESSAGE`.
const net = require('net');
const [host, port, mode] = process.argv.slice(2);
const sock = net.connect({ host, port: Number(port), autoSelectFamily: mode === 'auto' });
sock.setTimeout(5000, () => { console.log('error its own 5 s timeout (ETIMEDOUT)'); process.exit(0); });
sock.on('connect', () => { console.log('connected', sock.remoteAddress); sock.destroy(); });
sock.on('error', (e) => { console.log(`error ${e.name} [${e.code}] ${e.message}`); });
