// An audit event as a CloudEvents 1.0 event in structured mode (application/cloudevents+json): the envelope's
// attributes, the audit event itself as `data`.
import { cloudEventType, subjectOf, type AuditEvent } from './event.ts';

export const CLOUDEVENTS_CONTENT_TYPE = 'application/cloudevents+json; charset=utf-8';

export interface CloudEvent {
  specversion: '1.0';
  id: string;
  source: string;
  type: string;
  time: string;
  subject?: string;
  datacontenttype: 'application/json';
  data: AuditEvent;
}

export function toCloudEvent(event: AuditEvent, source: string): CloudEvent {
  const subject = subjectOf(event);
  return {
    specversion: '1.0',
    id: event.id,
    source,
    type: cloudEventType(event.action, event.result),
    time: event.time,
    ...(subject ? { subject } : {}),
    datacontenttype: 'application/json',
    data: event,
  };
}
