import { Module } from '@nestjs/common';
import { MetricsModule } from '../metrics/metrics.module';
import { OAuthModule } from '../oauth/oauth.module';
import { AdapterRegistry } from './adapter-registry';
import { CooldownJob } from './cooldown.job';
import { ProvidersController } from './providers.controller';
import { ProvidersService } from './providers.service';

@Module({
  imports: [MetricsModule, OAuthModule],
  controllers: [ProvidersController],
  providers: [ProvidersService, AdapterRegistry, CooldownJob],
  exports: [ProvidersService, AdapterRegistry],
})
export class ProvidersModule {}
