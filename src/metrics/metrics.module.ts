import { Module } from '@nestjs/common';
import { LiveTraffic } from './live-traffic';
import { MetricsController } from './metrics.controller';
import { MetricsService } from './metrics.service';

@Module({
  controllers: [MetricsController],
  providers: [MetricsService, { provide: LiveTraffic, useFactory: () => new LiveTraffic() }],
  exports: [MetricsService, LiveTraffic],
})
export class MetricsModule {}
