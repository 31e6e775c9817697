// How a status reports the last run of a scheduled Job (RetentionPolicy.status.lastRun, Registry.status.lastBackup),
// derived from its schema in job-run.schema.ts.
import type { Static } from '@sinclair/typebox';
import type { JobRunSummarySchema } from './job-run.schema.ts';

export type JobRunSummary = Static<typeof JobRunSummarySchema>;
