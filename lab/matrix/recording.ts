// A matrix row's recording: the decision inputs its sidecar saw on the real cluster
// (GET /reconcile/inputs), kept gzipped, and their replay through the pure decision
// core. The suite replays the rows too long for it (test/reconcile/recorded-rows.test.ts).
import { readFileSync, writeFileSync } from 'node:fs';
import { gunzipSync, gzipSync } from 'node:zlib';
import { request } from 'undici';
import { emptyMemory, type Memory, type Verdict } from '../../src/reconcile/diagnose.ts';
import { judge, type RecordedInputs } from '../../src/reconcile/reconciler.ts';
import type { SidecarProcess } from '../sidecar-process.ts';

export interface RowRecording {
  row: string;
  /** Whether the row's outcome was right when it was recorded. */
  right: boolean;
  inputs: RecordedInputs;
}

export async function recordedInputsOf(sidecar: Pick<SidecarProcess, 'adminUrl'>): Promise<RecordedInputs> {
  const response = await request(`${sidecar.adminUrl}/reconcile/inputs`);
  if (response.statusCode !== 200) throw new Error(`GET /reconcile/inputs answered ${response.statusCode}: ${await response.body.text()}`);
  return (await response.body.json()) as RecordedInputs;
}

export function writeRecording(file: string, recording: RowRecording): void {
  writeFileSync(file, gzipSync(JSON.stringify(recording)));
}

export function readRecording(file: string): RowRecording {
  return JSON.parse(gunzipSync(readFileSync(file)).toString('utf8')) as RowRecording;
}

/** One replayed tick: its time, and the verdict the views called for (null: the view was not settled, nothing judged). */
export interface ReplayedTick {
  now: number;
  verdict: Verdict | null;
}

/** Every tick's verdict again, from an empty memory, as the sidecar reached them (before its remediator's say). */
export function replay(inputs: RecordedInputs): ReplayedTick[] {
  let memory: Memory = emptyMemory;
  return inputs.ticks.map((tick) => {
    const judged = judge(tick, inputs.policy, memory);
    if (judged) memory = judged.memory;
    return { now: tick.now, verdict: judged?.verdict ?? null };
  });
}
