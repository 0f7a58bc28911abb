import { Module } from '@nestjs/common';
import { MetricsModule } from '../metrics/metrics.module';
import { OAuthModule } from '../oauth/oauth.module';
import { UsageController } from './usage.controller';
import { UsageRecorder } from './usage-recorder';

@Module({
  imports: [MetricsModule, OAuthModule],
  controllers: [UsageController],
  providers: [UsageRecorder],
  exports: [UsageRecorder],
})
export class UsageModule {}
