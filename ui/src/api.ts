// The generated bindings return `Result`s; the screens want values or a thrown, typed error.
import type { AppError } from "./types";

type Result<T, E> = { status: "ok"; data: T } | { status: "error"; error: E };

/** A command failed: the backend's `{code, message}`. */
export class Failure extends Error {
  readonly error: AppError;
  constructor(error: AppError) {
    super(error.message);
    this.error = error;
  }
}

export async function ok<T>(result: Promise<Result<T, AppError>>): Promise<T> {
  const r = await result;
  if (r.status === "error") throw new Failure(r.error);
  return r.data;
}

/** Anything thrown, as an `AppError` to show. */
export function asAppError(e: unknown): AppError {
  if (e instanceof Failure) return e.error;
  return { code: "internal", message: e instanceof Error ? e.message : String(e) };
}
