import { Controller, Get, Header } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { Public } from '../auth/auth.decorators';
import { ReadinessService, type CheckStatus } from './readiness';
import { ServiceNotReadyException } from './service-not-ready.exception';

@ApiTags('health')
@Public()
@Controller('health')
export class HealthController {
  constructor(private readonly readiness: ReadinessService) {}

  /** The process is up and serving HTTP; says nothing about its dependencies. */
  @Get('live')
  @Header('Cache-Control', 'no-store')
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  /** Whether this instance should take traffic: 200 when every dependency answers, else 503. */
  @Get('ready')
  @Header('Cache-Control', 'no-store')
  async ready(): Promise<{ status: 'ok'; checks: Readonly<Record<string, CheckStatus>> }> {
    const report = await this.readiness.report();
    if (!report.ready) throw new ServiceNotReadyException(report);
    return { status: 'ok', checks: report.checks };
  }
}
