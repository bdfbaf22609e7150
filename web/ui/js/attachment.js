// An image attached to the next message, read as a data: URL (the OpenAI
// image_url content part). The size is checked before reading: base64 makes
// a file a third larger, and a body over the server's limit (8 MiB by
// default) would be cut off mid-upload rather than answered.
import {ApiError} from './api.js';

export const MAX_ATTACHMENT_BYTES = 4 * 1024 * 1024;

export function readAttachment(file) {
  if (!file.type.startsWith('image/')) {
    return Promise.reject(new ApiError('InvalidAttachment', `${file.name} is not an image`));
  }
  if (file.size > MAX_ATTACHMENT_BYTES) {
    const mib = (file.size / 2 ** 20).toFixed(1);
    return Promise.reject(new ApiError(
      'AttachmentTooLarge',
      `${file.name} is ${mib} MiB; images up to ${
        MAX_ATTACHMENT_BYTES / 2 ** 20} MiB can be attached`));
  }
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve({ name: file.name, url: reader.result });
    reader.onerror = () =>
      reject(new ApiError('InvalidAttachment', `${file.name} could not be read`));
    reader.readAsDataURL(file);
  });
}
