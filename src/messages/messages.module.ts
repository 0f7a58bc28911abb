import { Module } from '@nestjs/common';
import { MetricsModule } from '../metrics/metrics.module';
import { ProvidersModule } from '../providers/providers.module';
import { CountTokensService } from './count-tokens.service';
import { MessagesController } from './messages.controller';
import { MessagesService } from './messages.service';
import { UpstreamExecutor } from './upstream-executor';

@Module({
  imports: [ProvidersModule, MetricsModule],
  controllers: [MessagesController],
  providers: [MessagesService, CountTokensService, UpstreamExecutor],
})
export class MessagesModule {}
