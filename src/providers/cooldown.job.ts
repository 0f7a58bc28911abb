import { Injectable } from '@nestjs/common';
import { Interval } from '@nestjs/schedule';
import { ProvidersService } from './providers.service';

/** Ends provider cooldowns as they run out, so the health gauge and /providers turn healthy without traffic. */
@Injectable()
export class CooldownJob {
  constructor(private readonly providers: ProvidersService) {}

  @Interval('provider-cooldowns', 1000)
  async expire(): Promise<void> {
    await this.providers.expireCooldowns();
  }
}
