import { Module } from '@nestjs/common';
import { AdminGuard } from '../auth/admin.guard';
import { MetricsModule } from '../metrics/metrics.module';
import { OAuthModule } from '../oauth/oauth.module';
import { UsageController } from './usage.controller';
import { UsageRecorder } from './usage-recorder';

@Module({
  imports: [MetricsModule, OAuthModule],
  controllers: [UsageController],
  providers: [UsageRecorder, AdminGuard],
  exports: [UsageRecorder],
})
export class UsageModule {}
