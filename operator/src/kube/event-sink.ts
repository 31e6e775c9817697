// Where controllers report user-visible changes and errors (core/v1 Events in production). Messages must never
// contain a password, a key or a token.
import type { KubernetesObject } from '@kubernetes/client-node';

export interface EventSink {
  normal(object: KubernetesObject, reason: string, message: string): void;
  warning(object: KubernetesObject, reason: string, message: string): void;
}
