import { plainToInstance } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, Matches, Max, Min, validateSync } from 'class-validator';
import { Type } from 'class-transformer';
import { ConfigError, type ConfigOverrides } from './config-loader';

/** Every environment variable the gateway reads is a field of this class; nothing else in the code reads process.env. */
export class Environment {
  @IsOptional() @IsString() BALANCER_CONFIG?: string;
  @IsOptional() @IsString() HOST?: string;

  @IsOptional()
  @Type(() => Number)
  @IsInt({ message: 'PORT must be a port number' })
  @Min(0, { message: 'PORT must be a port number' })
  @Max(65535, { message: 'PORT must be a port number' })
  PORT?: number;

  @IsOptional()
  @IsIn(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
    message: 'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent',
  })
  LOG_LEVEL?: string;

  @IsOptional() @Matches(/^rediss?:\/\/\S+$/i, { message: 'REDIS_URL must be a redis:// URL' }) REDIS_URL?: string;
  @IsOptional() @IsString() BALANCER_ADMIN_KEY?: string;
}

export function validateEnvironment(env: Record<string, unknown>): Environment {
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== ''));
  const parsed = plainToInstance(Environment, present, { excludeExtraneousValues: false });
  const issues = validateSync(parsed, { skipMissingProperties: true }).flatMap((e) =>
    Object.values(e.constraints ?? {}),
  );
  if (issues.length > 0) throw new ConfigError('Invalid environment:', issues);
  return parsed;
}

export function overridesFrom(env: Environment, cli: { host?: string; port?: number }): ConfigOverrides {
  return {
    host: cli.host ?? env.HOST,
    port: cli.port ?? env.PORT,
    logLevel: env.LOG_LEVEL,
    redisUrl: env.REDIS_URL,
    adminKey: env.BALANCER_ADMIN_KEY,
  };
}
