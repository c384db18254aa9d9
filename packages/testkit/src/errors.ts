/** Assertions that a call fails with a given FerryError code. */
import { expect } from "bun:test";

export type FerryErrorLike = Error & { code: string };

function expectCode(err: unknown, code: string): FerryErrorLike {
  expect(err).toBeDefined();
  expect((err as Error).name).toBe("FerryError");
  expect((err as { code: string }).code).toBe(code);
  return err as FerryErrorLike;
}

/** Run `fn` with a FerryError expected; return it. */
export function expectFerryError(fn: () => unknown, code: string): FerryErrorLike {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  return expectCode(err, code);
}

/** Await `p` with a FerryError rejection expected; return it. */
export async function expectFerryRejection(p: Promise<unknown>, code: string): Promise<FerryErrorLike> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  return expectCode(err, code);
}
