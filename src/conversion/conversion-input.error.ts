/** Content a conversion has to read and finds wrongly shaped: the client's fault, answered as a 400. */
export class ConversionInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConversionInputError';
  }
}
