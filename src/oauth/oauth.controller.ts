import { Body, Controller, Delete, Get, Headers, HttpCode, Param, Post, Query, Res, UseGuards } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { AdminGuard } from '../auth/admin.guard';
import { GatewayError } from '../common/gateway-error';
import type { AccountRecord } from './account-record';
import { normaliseEmail } from './account-record';
import { AccountLogins } from './account-logins.service';
import { AccountRefresher } from './account-refresher';
import { AccountStateStore } from './account-state.store';
import { accountSummary } from './account-summary';
import { LOGIN_LIFETIME_MS } from './login-session.store';
import { loginPage } from './login-page';
import { TokenEndpointError } from './token-endpoint.client';
import { TokenStore } from './token.store';

interface CallbackBody {
  code?: unknown;
  state?: unknown;
  account_email?: unknown;
  email?: unknown;
}

/** Management of Claude subscription accounts: logging in, importing, status, refresh, forgetting. Admin only. */
@Controller('oauth')
@UseGuards(AdminGuard)
export class OAuthController {
  constructor(
    private readonly logins: AccountLogins,
    private readonly tokens: TokenStore,
    private readonly states: AccountStateStore,
    private readonly refresher: AccountRefresher,
  ) {}

  @Get('authorize')
  async authorize(@Headers('accept') accept: string | undefined, @Res() reply: FastifyReply): Promise<void> {
    const login = await this.logins.start();
    const minutes = LOGIN_LIFETIME_MS / 60_000;
    if (wantsHtml(accept)) {
      await reply
        .header('cache-control', 'no-store')
        .type('text/html; charset=utf-8')
        .send(loginPage(login.loginUrl, login.state, minutes));
      return;
    }
    await reply.header('cache-control', 'no-store').send({
      login_url: login.loginUrl,
      state: login.state,
      expires_in: minutes * 60,
    });
  }

  /** The seed's spelling: the login link and what to do with it. */
  @Get('generate-url')
  async generateUrl() {
    const login = await this.logins.start();
    return {
      login_url: login.loginUrl,
      state: login.state,
      expires_in: LOGIN_LIFETIME_MS / 1000,
      instructions:
        'Open login_url, sign in, copy the code Claude shows (CODE#STATE) and POST it to /oauth/callback as {"code": "..."}.',
    };
  }

  @Get('callback')
  async callbackFromQuery(@Query('code') code?: string, @Query('state') state?: string) {
    return this.finish(code, state);
  }

  @Post('callback')
  @HttpCode(200)
  async callback(@Body() body: unknown) {
    const fields = asFields(body);
    return this.finish(fields.code, fields.state, fields.email);
  }

  /** The seed's spelling of the callback, `{code, account_email}`. */
  @Post('exchange-code')
  @HttpCode(200)
  async exchangeCode(@Body() body: unknown) {
    const fields = asFields(body);
    return this.finish(fields.code, fields.state, fields.email);
  }

  @Post('import')
  @HttpCode(200)
  async import(@Body() body: unknown) {
    const email = asFields(body).email;
    const record = await this.logins.import(body, email);
    return { account: this.summary(record) };
  }

  @Get('status')
  async status() {
    const records = await this.tokens.list();
    const accounts = records.map((record) => this.summary(record));
    return {
      accounts,
      summary: {
        total: accounts.length,
        ok: accounts.filter((a) => a.state === 'ok').length,
        parked: accounts.filter((a) => a.state === 'parked').length,
        needs_login: accounts.filter((a) => a.state === 'needs_login').length,
        blocked: accounts.filter((a) => a.state === 'blocked').length,
      },
    };
  }

  @Post('refresh/:account')
  @HttpCode(200)
  async refresh(@Param('account') account: string) {
    const email = normaliseEmail(account);
    const record = await this.tokens.get(email);
    if (!record) throw new GatewayError(404, 'not_found_error', `No stored account is named ${email}.`);
    try {
      const refreshed = await this.refresher.refresh(email, { seen: record.refreshToken, force: true });
      return { account: this.summary(refreshed ?? record) };
    } catch (error) {
      const message = error instanceof TokenEndpointError ? error.message : (error as Error).message;
      throw new GatewayError(502, 'api_error', `The refresh of ${email} failed: ${message}`);
    }
  }

  @Delete('tokens/:account')
  async forget(@Param('account') account: string) {
    const email = normaliseEmail(account);
    if (!(await this.tokens.delete(email))) {
      throw new GatewayError(404, 'not_found_error', `No stored account is named ${email}.`);
    }
    await this.states.forget(email);
    return { deleted: email };
  }

  @Delete('tokens')
  async forgetAll() {
    for (const record of await this.tokens.list()) await this.states.forget(record.email);
    return { deleted: await this.tokens.clear() };
  }

  private async finish(code: string | undefined, state: string | undefined, email?: string) {
    if (!code) throw GatewayError.invalidRequest('code: paste the code Claude showed (CODE#STATE).');
    const record = await this.logins.finish(code, state, email);
    return { account: this.summary(record) };
  }

  private summary(record: AccountRecord) {
    return accountSummary(record, this.states.snapshot(record.email));
  }
}

function wantsHtml(accept: string | undefined): boolean {
  if (!accept) return false;
  return /text\/html/i.test(accept) && !/^application\/json/i.test(accept.trim());
}

function asFields(body: unknown): { code?: string; state?: string; email?: string } {
  const fields = (body ?? {}) as CallbackBody;
  const text = (value: unknown) => (typeof value === 'string' && value.trim() ? value.trim() : undefined);
  return {
    code: text(fields.code),
    state: text(fields.state),
    email: text(fields.account_email) ?? text(fields.email),
  };
}
