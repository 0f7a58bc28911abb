import { Module } from '@nestjs/common';
import { AdminGuard } from '../auth/admin.guard';
import { MetricsModule } from '../metrics/metrics.module';
import { UsageController } from './usage.controller';
import { UsageRecorder } from './usage-recorder';

@Module({
  imports: [MetricsModule],
  controllers: [UsageController],
  providers: [UsageRecorder, AdminGuard],
  exports: [UsageRecorder],
})
export class UsageModule {}
