import { ProblemException } from '../http/problem.exception';
import type { ReadinessReport } from './readiness';

export class ServiceNotReadyException extends ProblemException {
  constructor(report: ReadinessReport) {
    const down = Object.entries(report.checks)
      .filter(([, status]) => status === 'down')
      .map(([name]) => name);
    super(503, 'NOT_READY', `Not ready: ${down.join(', ')} unavailable.`, {
      checks: report.checks,
    });
    this.name = 'ServiceNotReadyException';
  }
}
