import { type DynamicModule, Global, Module } from '@nestjs/common';
import { ConfigModule } from '@nestjs/config';
import { ActiveConfig } from './active-config';
import { ConfigSource } from './config-source';
import { validateEnvironment } from './environment';

/** Makes the loaded config (and where it came from) available everywhere; loading happens before Nest starts. */
@Global()
@Module({})
export class GatewayConfigModule {
  static forRoot(source: ConfigSource): DynamicModule {
    return {
      module: GatewayConfigModule,
      imports: [ConfigModule.forRoot({ isGlobal: true, ignoreEnvFile: true, validate: validateEnvironment })],
      providers: [{ provide: ConfigSource, useValue: source }, ActiveConfig],
      exports: [ConfigSource, ActiveConfig],
    };
  }
}
