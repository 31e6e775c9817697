// A CronJob schedule's next run, or undefined when the schedule or time zone does not parse: what a scheduled
// task's status shows, and how a bad schedule is caught before a CronJob is applied.
import { CronExpressionParser } from 'cron-parser';

export function nextRun(schedule: string, timeZone: string | undefined, now: Date): string | undefined {
  try {
    return CronExpressionParser.parse(schedule, { currentDate: now, tz: timeZone ?? 'UTC' }).next().toDate().toISOString();
  } catch {
    return undefined;
  }
}
