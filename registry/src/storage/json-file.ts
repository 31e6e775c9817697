// Small JSON files in storage (records, holds, pull times): parsed, or null when absent.
import { PathNotFoundError, type StorageDriver } from './driver.ts';

export async function readJsonFile<T>(driver: StorageDriver, path: string): Promise<T | null> {
  try {
    return JSON.parse((await driver.getContent(path)).toString('utf8')) as T;
  } catch (error) {
    if (error instanceof PathNotFoundError) return null;
    throw error;
  }
}
