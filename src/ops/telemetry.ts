/**
 * What the domain layer reports about itself. Services call these plain methods and know
 * nothing of Prometheus; `PromTelemetry` (metrics.ts) turns them into metrics.
 */
import type { AuthFailureReason } from '../auth/verifier.js';

export interface Telemetry {
  uploadsStarted(count: number): void;
  uploadCompleted(): void;
  uploadsExpired(count: number): void;
  uploadAborted(): void;
  /** Bytes received into storage (parts and one-request uploads). */
  bytesIn(count: number): void;
  /** Bytes of file content sent (downloads and ZIPs). */
  bytesOut(count: number): void;
  zipStarted(): void;
  zipFinished(outcome: 'complete' | 'aborted' | 'failed'): void;
  authFailure(reason: AuthFailureReason): void;
}

export const noTelemetry: Telemetry = {
  uploadsStarted() {},
  uploadCompleted() {},
  uploadsExpired() {},
  uploadAborted() {},
  bytesIn() {},
  bytesOut() {},
  zipStarted() {},
  zipFinished() {},
  authFailure() {},
};
