// The schema of a scheduled Job's last run in a status (RetentionPolicy.status.lastRun, Registry.status.lastBackup):
// the type in job-run.ts and the CRDs' schema of those fields.
import { Type } from '@sinclair/typebox';
import { StringEnum } from '../schema.ts';

/** the fields every run summary has; a kind's status adds its own (BackupRunStatusSchema) */
export const jobRunSummaryProperties = {
  jobName: Type.String({ description: 'The Job that ran (or runs) it.' }),
  result: StringEnum(['Succeeded', 'Failed', 'Running'], { description: 'Succeeded, Failed, or Running while the Job has not finished.' }),
  startTime: Type.Optional(Type.String({ description: 'When the Job started (RFC 3339).' })),
  completionTime: Type.Optional(Type.String({ description: 'When the Job finished (RFC 3339); absent while it runs.' })),
  message: Type.Optional(Type.String({ description: 'What went wrong, when the run failed.' })),
};

export const JobRunSummarySchema = Type.Object(jobRunSummaryProperties, { description: 'The newest Job and, once it finished, what its summary says.' });
