import { Module } from '@nestjs/common';
import { DedupModule } from '../dedup/dedup.module';
import { MetricsModule } from '../metrics/metrics.module';
import { ProvidersModule } from '../providers/providers.module';
import { CountTokensService } from './count-tokens.service';
import { MessagesController } from './messages.controller';
import { CallDelivery } from './call-delivery';
import { MessagesService } from './messages.service';
import { UpstreamExecutor } from './upstream-executor';
import { UpstreamRunner } from './upstream-runner';

@Module({
  imports: [ProvidersModule, MetricsModule, DedupModule],
  controllers: [MessagesController],
  providers: [MessagesService, CountTokensService, UpstreamExecutor, UpstreamRunner, CallDelivery],
})
export class MessagesModule {}
