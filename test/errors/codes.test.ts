/**
 * The closed union of error codes and the HTTP handler's table stay in step: a code added to
 * src/errors/codes.ts without a status (or a status left for a code that is gone) fails here,
 * not as an `undefined` status at run time.
 */
import { describe, expect, it } from 'vitest';
import { AppError, ERROR_CODES, FileNotFound, InvalidToken, NotAuthenticated, RangeNotSatisfiable, RateLimited } from '../../src/errors/index.js';
import { HTTP_STATUS } from '../../src/http/error-handler.js';

describe('error codes', () => {
  it('every code of the union has an HTTP status in the handler table', () => {
    const missing = ERROR_CODES.filter((code) => !Number.isInteger(HTTP_STATUS[code]) || HTTP_STATUS[code] < 400 || HTTP_STATUS[code] > 599);
    expect(missing).toEqual([]);
  });

  it('the table has no status for a code outside the union, and the union no duplicate', () => {
    expect(Object.keys(HTTP_STATUS).sort()).toEqual([...ERROR_CODES].sort());
    expect(new Set(ERROR_CODES).size).toBe(ERROR_CODES.length);
  });

  it('codes are stable snake_case', () => {
    for (const code of ERROR_CODES) expect(code).toMatch(/^[a-z][a-z0-9]*(?:_[a-z0-9]+)+$|^[a-z]+$/);
  });

  it('errors carry a code and no HTTP: status and headers come from the handler', () => {
    const errors: AppError[] = [new FileNotFound(), new InvalidToken(), new NotAuthenticated(), new RangeNotSatisfiable(10), new RateLimited(2.5)];
    for (const err of errors) {
      expect(err).toBeInstanceOf(AppError);
      expect(err).not.toHaveProperty('statusCode');
      expect(err).not.toHaveProperty('headers');
      expect(ERROR_CODES).toContain(err.code);
    }
    expect(new FileNotFound()).toMatchObject({ name: 'FileNotFound', code: 'file_not_found' });
  });
});
