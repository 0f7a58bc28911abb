import { Controller, Get, Header, UseGuards } from '@nestjs/common';
import { MetricsKeyGuard } from '../auth/admin.guard';
import { MetricsService } from './metrics.service';

@Controller('metrics')
@UseGuards(MetricsKeyGuard)
export class MetricsController {
  constructor(private readonly metrics: MetricsService) {}

  @Get()
  @Header('content-type', 'text/plain; version=0.0.4; charset=utf-8')
  scrape(): Promise<string> {
    return this.metrics.registry.metrics();
  }
}
