/**
 * Every error Loci raises on purpose is a {@link LociError} with a stable
 * {@link LociError.code}. Codes never change meaning; new ones may be added.
 *
 * | code | meaning | what to do |
 * |---|---|---|
 * | `INVALID_ARGUMENT` | an argument has the wrong type or is out of range | fix the call as the message says |
 * | `DIM_MISMATCH` | a vector's length is not the store's `dim` | pass vectors of exactly `dim` numbers |
 * | `INVALID_VECTOR` | a vector holds NaN or ±Infinity | clean the vector before storing or searching |
 * | `NOT_FOUND` | an id is not in the store | check with `has()` first |
 * | `ALREADY_EXISTS` | `add()` of an id that exists | use `upsert()` to replace |
 * | `CLOSED` | the store was closed | open it again |
 * | `CORRUPT` | a file failed a checksum or invariant | restore from a backup; run `loci verify` |
 * | `LOCKED` | another process holds the store | close the other writer |
 * | `IO_ERROR` | the OS refused a read, write or sync | check disk space and permissions |
 * | `INTERNAL` | a bug in Loci | please report it with the message |
 */
export type LociErrorCode =
  | 'INVALID_ARGUMENT'
  | 'DIM_MISMATCH'
  | 'INVALID_VECTOR'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'CLOSED'
  | 'CORRUPT'
  | 'LOCKED'
  | 'IO_ERROR'
  | 'INTERNAL';

/** An error raised by Loci, with a stable machine-readable {@link LociError.code}. */
export class LociError extends Error {
  /** Stable error code: branch on this, not on the message. */
  readonly code: LociErrorCode;

  constructor(code: LociErrorCode, message: string) {
    super(message);
    this.name = 'LociError';
    this.code = code;
  }
}
