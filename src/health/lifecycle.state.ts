import { Injectable } from '@nestjs/common';

/** Whether the process is draining for shutdown; readiness turns 503 so load balancers stop sending traffic. */
@Injectable()
export class LifecycleState {
  draining = false;
}
