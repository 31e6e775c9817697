// How a status reports the last run of a scheduled Job (RetentionPolicy.status.lastRun, Registry.status.lastBackup).
export interface JobRunSummary {
  jobName: string;
  startTime?: string;
  completionTime?: string;
  result: 'Succeeded' | 'Failed' | 'Running';
  message?: string;
}
