/**
 * Questions to the person at the terminal: a line (username, a yes/no) and a secret read with
 * the echo off (raw mode, so the password never appears on screen or in the scrollback).
 */
import readline from 'node:readline';
import { Interrupted, UsageError } from './errors.js';
import type { CliStreams } from './output.js';

export async function askLine(streams: CliStreams, question: string): Promise<string> {
  const rl = readline.createInterface({ input: streams.stdin, output: streams.stderr, terminal: streams.stdin.isTTY === true });
  try {
    return await new Promise<string>((resolve, reject) => {
      rl.once('close', () => reject(new UsageError('no answer (end of input)')));
      rl.question(question, resolve);
    });
  } finally {
    rl.removeAllListeners('close');
    rl.close();
  }
}

export async function askSecret(streams: CliStreams, question: string): Promise<string> {
  const { stdin, stderr } = streams;
  if (!stdin.isTTY || !stdin.setRawMode) throw new UsageError('no terminal to ask for the password: use --password-stdin');
  stderr.write(question);
  stdin.setRawMode(true);
  stdin.resume();
  try {
    return await new Promise<string>((resolve, reject) => {
      let secret = '';
      const onData = (chunk: Buffer) => {
        for (const ch of chunk.toString('utf8')) {
          if (ch === '\r' || ch === '\n' || ch === '\u0004') {
            stdin.off('data', onData);
            resolve(secret);
            return;
          }
          if (ch === '\u0003') {
            stdin.off('data', onData);
            reject(new Interrupted());
            return;
          }
          if (ch === '\u007f' || ch === '\b') secret = [...secret].slice(0, -1).join('');
          else secret += ch;
        }
      };
      stdin.on('data', onData);
    });
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
    stderr.write('\n');
  }
}

/** The first line of stdin (for --password-stdin: `pass show x | stream-line login ...`). */
export async function readFirstLine(streams: CliStreams): Promise<string> {
  let text = '';
  for await (const chunk of streams.stdin) {
    text += chunk.toString();
    if (text.includes('\n')) break;
  }
  return text.split(/\r?\n/, 1)[0] ?? '';
}
