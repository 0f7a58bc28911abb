import { Controller, Get } from '@nestjs/common';
import { ProvidersService } from '../providers/providers.service';
import { VERSION } from '../version';

/** `GET /` says what this is; Fastify answers `HEAD /` (Claude Code's connectivity check) from the same route. */
@Controller()
export class RootController {
  constructor(private readonly providers: ProvidersService) {}

  @Get()
  describe() {
    return {
      service: 'claude-code-provider-balancer',
      version: VERSION,
      status: 'ok',
      providers_available: this.providers.usableProviders().length,
    };
  }
}
